"""`cycleaug fetch`: get one file (a data set archive or pretrained weights), verify it, optionally unpack it.

    cycleaug fetch --url https://pjreddie.com/media/files/darknet53.conv.74 --out data/pretrained/darknet53.conv.74
    cycleaug fetch --path downloads/SYNTHIA_RAND_CITYSCAPES.rar --out downloads/SYNTHIA_RAND_CITYSCAPES.rar \\
        --extract-to data/raw/synthia --strip 1 --expect RGB --expect GT/LABELS
"""

HELP = "download (resumable) or take a local file, verify its checksum, optionally unpack it safely"


def add_arguments(parser) -> None:
    src = parser.add_argument_group("where the file comes from (an existing --out needs neither)")
    src.add_argument("--url", help="download from this http:// or https:// URL when neither --path nor --out exists")
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
    # Defaults: cycleaug.acquire.Limits, sized for BDD100K's and SYNTHIA's archives (see there).
    unpack.add_argument(
        "--max-total",
        metavar="SIZE",
        help="refuse an archive whose members unpack to more than SIZE in all (64GiB, 500MB, 2G or bytes; "
        "default 64GiB); checked from its listing before anything is written, and on the bytes written",
    )
    unpack.add_argument(
        "--max-member", metavar="SIZE", help="refuse an archive with a member larger than SIZE (default 4GiB)"
    )
    unpack.add_argument(
        "--max-ratio",
        metavar="R",
        help="refuse an archive whose members (each, or all together against the archive's size) unpack "
        "to more than R times their compressed size, a zip bomb (default 100; applies from 1 MiB on)",
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
    from cycleaug.acquire import Limits, check_url, extract, fetch, parse_ratio, parse_size
    from cycleaug.acquire.downloads import _normalise_hex
    from cycleaug.errors import CycleAugError

    # Every option is checked before anything is read, written or downloaded.
    if (args.strip or args.expect) and not args.extract_to:
        raise CycleAugError("--strip/--expect: only meaningful with --extract-to DIR")
    if args.retries < 0 or args.timeout <= 0:
        raise CycleAugError("--retries must be >= 0 and --timeout > 0")
    _normalise_hex(args.sha256, 64, "sha256")
    _normalise_hex(args.md5, 32, "md5")
    if args.url is not None:
        check_url(args.url)
    default = Limits()
    limits = Limits(
        total=default.total if args.max_total is None else parse_size(args.max_total, "--max-total"),
        member=default.member if args.max_member is None else parse_size(args.max_member, "--max-member"),
        ratio=default.ratio if args.max_ratio is None else parse_ratio(args.max_ratio, "--max-ratio"),
    )
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
        extract(out, args.extract_to, strip=args.strip, expect=args.expect, limits=limits)
    return 0
