"""Copy the last demo's figures into docs/demo/ as small PNGs for the README (run after `make demo`).

.venv/bin/python tools/readme_figures.py [--results results] [--out docs/demo] [--width 760] [--only NAME ...]

`--only ablation_lr` after `snakemake --profile profiles/demo ablation_lr` copies that figure alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

NAMES = ("fig4_scaling", "fig5_samples", "fig6_fid", "table2")
OTHERS = ("ablation_lr",)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results", type=Path)
    p.add_argument("--out", default="docs/demo", type=Path)
    p.add_argument("--width", default=760, type=int, help="maximum width in pixels")
    p.add_argument("--only", nargs="+", choices=NAMES + OTHERS, help="these figures (default: the demo's)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or NAMES:
        src = args.results / "figures" / f"{name}.png"
        if not src.is_file():
            print(f"readme_figures: {src} not found; run `make demo` first", file=sys.stderr)
            return 2
        with Image.open(src) as im:
            im = im.convert("RGB")
            if im.width > args.width:
                im = im.resize((args.width, round(im.height * args.width / im.width)), Image.Resampling.LANCZOS)
            # A 256-colour palette keeps line plots and tables crisp at a fraction of the bytes.
            dst = args.out / f"{name}.png"
            tmp = dst.with_suffix(".tmp.png")
            im.quantize(256, method=Image.Quantize.MEDIANCUT).save(tmp, optimize=True)
            tmp.replace(dst)
        print(f"{dst} ({dst.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
