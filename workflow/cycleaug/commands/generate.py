"""`cycleaug generate`: translate images with a CycleGAN generator (see cycleaug.cyclegan.translate)."""

from __future__ import annotations

import argparse

HELP = "translate images with a CycleGAN generator (the reference's {epoch}_net_G_A.pth or ours)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        action="append",
        metavar="PATH",
        help="{epoch}_net_G_A.pth (reference layout, ngf/blocks inferred) or a latest.pt; repeat it with "
        "--output to translate the same inputs with several generators in one job (every saved epoch)",
    )
    parser.add_argument("--input", required=True, metavar="FILE_OR_DIR", help="an image or a folder of images")
    parser.add_argument(
        "--output",
        required=True,
        action="append",
        metavar="DIR",
        help="folder of translated PNGs, named <input stem>.png (replaced whole); one per --checkpoint, in the same "
        "order",
    )
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
    from cycleaug.errors import CycleAugError
    from cycleaug.runtime import resolve_device
    from cycleaug.translated_sets import listed_inputs, new_output_dir, translate_listed

    if args.batch_size < 1:
        raise CycleAugError(f"--batch-size {args.batch_size}: expected >= 1")
    if args.labels_out and not args.list:
        raise CycleAugError("--labels-out: needs --list (the boxes come from the listed frames)")
    if len(args.checkpoint) != len(args.output):
        raise CycleAugError(
            f"{len(args.checkpoint)} --checkpoint and {len(args.output)} --output: expected one --output per --checkpoint"
        )
    if args.list and len(args.checkpoint) > 1:
        raise CycleAugError("--list: translates with one --checkpoint (its labels go to one --labels-out)")
    device = resolve_device(args.device)
    if args.list:
        listed_inputs(args.list, args.input)  # a bad list fails before the generator is loaded
        generator = load_generator(args.checkpoint[0], args.net, device)
        frames = translate_listed(
            generator, args.list, args.input, args.output[0], args.labels_out, batch_size=args.batch_size
        )
        print(f"{args.output[0]}: {len(frames)} images, {sum(len(f.boxes) for f in frames)} boxes")
        return 0
    paths = input_paths(args.input)
    for i, (checkpoint, output) in enumerate(zip(args.checkpoint, args.output, strict=True), 1):
        if len(args.checkpoint) > 1:
            print(f"[{i}/{len(args.checkpoint)}] {checkpoint} -> {output}", flush=True)
        generator = load_generator(checkpoint, args.net, device)
        # --output appears only complete and holds this run's images only (built under a temporary name).
        with new_output_dir(output) as out:
            translate(generator, paths, out, batch_size=args.batch_size)
    return 0
