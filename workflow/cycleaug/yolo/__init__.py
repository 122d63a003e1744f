"""YOLOv3 as darknet builds it: cfg files, the network, `.weights` files, detection and `detector map`.

- `cycleaug.yolo.cfg`: parse a darknet ``.cfg`` (the shipped ones live in ``cycleaug/cfg/``).
- `cycleaug.yolo.model`: the ``Darknet`` ``nn.Module`` built from a cfg.
- `cycleaug.yolo.weights`: read and write darknet ``.weights`` (with cutoff, size checks).
- `cycleaug.yolo.decode` / `cycleaug.yolo.nms`: raw head outputs -> scored boxes -> per-class NMS.
- `cycleaug.yolo.detect`: images -> BDD100K/Scalabel prediction frames (``cycleaug detect``).
- `cycleaug.yolo.evaluate`: darknet's ``detector map`` figures (``cycleaug evaluate``).

Modules that need torch import it themselves; ``cfg`` and ``evaluate`` need only numpy.
"""
