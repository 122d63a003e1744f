"""`cycleaug generate`: translate images with a CycleGAN generator (see cycleaug.cyclegan.translate)."""

from __future__ import annotations

import argparse

HELP = "translate images with a CycleGAN generator (the reference's {epoch}_net_G_A.pth or ours)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="{epoch}_net_G_A.pth (reference layout, ngf/blocks inferred) or a latest.pt",
    )
    parser.add_argument("--input", required=True, metavar="FILE_OR_DIR", help="an image or a folder of images")
    parser.add_argument("--output", required=True, metavar="DIR", help="translated PNGs, named <input stem>.png")
    parser.add_argument(
        "--net",
        choices=["G_A", "G_B"],
        default="G_A",
        help="which generator of a latest.pt (default G_A: SYNTHIA -> BDD)",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument(
        "--list",
        default=None,
        metavar="JSON",
        help="translate only the images this BDD100K JSON names (frame name = file in --input "
        "DIR), e.g. the detector's synthetic.json; see cycleaug.translated_sets",
    )
    parser.add_argument(
        "--labels-out",
        default=None,
        metavar="JSON",
        help="with --list: write its frames and boxes again, named after the output PNGs",
    )


def run(args: argparse.Namespace) -> int:
    from cycleaug.cyclegan.translate import input_paths, load_generator, translate
    from cycleaug.runtime import resolve_device

    if args.batch_size < 1:
        from cycleaug.errors import CycleAugError

        raise CycleAugError(f"--batch-size {args.batch_size}: expected >= 1")
    if args.labels_out and not args.list:
        from cycleaug.errors import CycleAugError

        raise CycleAugError("--labels-out: needs --list (the boxes come from the listed frames)")
    from cycleaug.translated_sets import new_output_dir, translate_listed

    generator = load_generator(args.checkpoint, args.net, resolve_device(args.device))
    if args.list:
        frames = translate_listed(
            generator, args.list, args.input, args.output, args.labels_out, batch_size=args.batch_size
        )
        print(f"{args.output}: {len(frames)} images, {sum(len(f.boxes) for f in frames)} boxes")
        return 0
    # A new --output folder appears only complete (built under a temporary name).
    with new_output_dir(args.output) as out:
        translate(generator, input_paths(args.input), out, batch_size=args.batch_size)
    return 0
