"""The data layer of paper Step 1: readers for BDD100K and SYNTHIA, the demo look-alike generator,
and the person-centred 256 px crops CycleGAN trains on (FACTS.md, "Pipeline (Fig. 1)", step 1).

- ``bdd100k``: legacy and det_20 detection labels -> normalised person boxes.
- ``synthia``: 16-bit label PNGs (or RAND-CVPR16 text labels) -> person boxes.
- ``pngio``: 16-bit multi-channel PNG reading and writing (Pillow truncates those to 8 bits).
- ``demo``: a seeded generator writing both data sets in their real on-disk formats.
- ``crop``: square crops centred on each image's largest person box.

The rules' options come from cycleaug.glue.data.
"""
