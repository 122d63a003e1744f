"""The paper's figures drawn from this workflow's outputs (PNG for screens, vector PDF for print).

One module per figure, each with ``build_*(...) -> matplotlib.figure.Figure`` (inspected by the tests)
and ``findings(...) -> str`` (one sentence for the report caption; the Snakefile calls it, so these
modules import matplotlib only inside the drawing functions):

- :mod:`cycleaug.figures.fig4` speed-up of CycleGAN training vs GPU count (paper Fig. 4)
- :mod:`cycleaug.figures.fig5` sample grid: the same SYNTHIA inputs per GPU count and epoch (Fig. 5)
- :mod:`cycleaug.figures.fig6` FID vs epoch, one curve per GPU count (Fig. 6)
- :mod:`cycleaug.figures.table2` Table 2 as a figure-quality table

:mod:`cycleaug.figures.style` holds the shared look and the atomic PNG + PDF writer,
the published numbers drawn as references come from :mod:`cycleaug.paper`.
"""
