"""`cycleaug fetch`: get one file (a data set archive or pretrained weights), verify it, optionally unpack it.

    cycleaug fetch --url https://pjreddie.com/media/files/darknet53.conv.74 --out data/pretrained/darknet53.conv.74
    cycleaug fetch --path downloads/SYNTHIA_RAND_CITYSCAPES.rar --out downloads/SYNTHIA_RAND_CITYSCAPES.rar \\
        --extract-to data/raw/synthia --strip 1 --expect RGB --expect GT/LABELS
"""

HELP = "download (resumable) or take a local file, verify its checksum, optionally unpack it safely"


def add_arguments(parser) -> None:
    src = parser.add_argument_group("where the file comes from (an existing --out needs neither)")
    src.add_argument("--url", help="download from this http(s) URL when neither --path nor --out exists")
    src.add_argument(
        "--path",
        help="use this local file if it exists (in place when it is --out, else hard-linked or copied to --out)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="where the verified file ends up; an existing --out is verified, not downloaded again. "
        "A download goes to OUT.part (resumed on the next run) and is renamed only when verified",
    )
    parser.add_argument("--sha256", help="expected SHA-256 (64 hex digits)")
    parser.add_argument(
        "--md5",
        help="expected MD5 (32 hex digits); with neither, the sha256 is printed and a warning "
        "says nothing was verified",
    )
    unpack = parser.add_argument_group("unpacking (zip, tar, tar.gz/.bz2/.xz; rar needs bsdtar or unrar)")
    unpack.add_argument(
        "--extract-to",
        metavar="DIR",
        help="unpack the file into DIR; members that would land outside DIR refuse the whole archive",
    )
    unpack.add_argument(
        "--strip",
        type=int,
        default=0,
        metavar="N",
        help="drop N leading folders from every member, like tar --strip-components",
    )
    unpack.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="REL",
        help="a path (relative to DIR) the unpacked archive must contain; repeatable",
    )
    net = parser.add_argument_group("network")
    net.add_argument(
        "--retries",
        type=int,
        default=4,
        help="consecutive failed attempts without new bytes before giving up",
    )
    net.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry")


def run(args) -> int:
    from cycleaug.acquire import extract, fetch
    from cycleaug.errors import CycleAugError

    if (args.strip or args.expect) and not args.extract_to:
        raise CycleAugError("--strip/--expect: only meaningful with --extract-to DIR")
    if args.retries < 0 or args.timeout <= 0:
        raise CycleAugError("--retries must be >= 0 and --timeout > 0")
    out = fetch(
        args.out,
        url=args.url,
        path=args.path,
        sha256=args.sha256,
        md5=args.md5,
        retries=args.retries,
        timeout=args.timeout,
    )
    if args.extract_to:
        extract(out, args.extract_to, strip=args.strip, expect=args.expect)
    return 0
