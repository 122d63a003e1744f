"""Frechet Inception Distance, computed the way pytorch-fid (mseitzer/pytorch-fid 0.3.0) computes it.

CycleGAN papers, and the paper's Fig. 6, report FID with pytorch-fid, so every step here follows
pytorch-fid 0.3.0 (``pytorch_fid/fid_score.py`` and ``pytorch_fid/inception.py``):

- network: pytorch-fid's FID Inception (torchvision's Inception3 with 1008 classes, no aux logits, and
  pytorch-fid's patched ``FIDInceptionA/C/E_1/E_2`` blocks) and its ``InceptionV3`` wrapper's forward:
  bilinear resize to 299x299 (``align_corners=False``), inputs scaled from [0, 1] to [-1, 1];
- ``dims`` picks the block as ``InceptionV3.BLOCK_INDEX_BY_DIM`` does (64, 192, 768, 2048), and block
  outputs that are not 1x1 are average-pooled to 1x1 as ``get_activations`` does;
- images: every file in the directory (not recursive) whose extension is one of pytorch-fid's
  ``IMAGE_EXTENSIONS`` (lower case), sorted, opened with PIL, converted to RGB, ``ToTensor`` (/255);
- statistics in float64: ``mu = mean(act, 0)``, ``sigma = np.cov(act, rowvar=False)``;
- Frechet distance ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2))`` with scipy's ``sqrtm``; if the
  square root is not finite, 1e-6 is added to both diagonals and it is retried; if the diagonal of the
  square root has an imaginary part above 1e-3 it is an error, otherwise the real part is kept.

The weights are always read from a local file (``pt_inception-2015-12-05-6726825d.pth``, the file
pytorch-fid downloads) or replaced by a fixed-seed random initialisation (``random-init``, for the demo,
which cannot download anything). Nothing is ever fetched from a hub at run time.

    cycleaug fid results/samples/4gpu/epoch200 data/crops/bdd100k --weights downloads/pt_inception-2015-12-05-6726825d.pth

The modules, each importing only from those above it (nothing is re-exported here; import from the
module that defines a name):

- ``weights``: the Inception network: the weights file (URL, file name, pytorch-fid's cache location),
  the ``random-init`` state dict, loading and checking a weights file and its sha256 identity, building
  the feature extractor for ``dims`` (``FIDInceptionFeatures``);
- ``features``: the images of a directory (``list_images``), their loading and batching, and the network's
  features of them (``compute_activations``);
- ``statistics``: a set's mean and covariance (``Stats``, ``statistics``), the Frechet distance, KID, and
  the content-keyed cache of a set's statistics (``set_statistics``, ``cache_key``), with the small-set
  warning;
- ``table``: the entry points: one pair of sets (``FIDSession``, ``compute_fid``, ``FIDResult``) and the
  per-run CSV of `cycleaug fid-table` (``Run``, ``fid_table``, ``FID_TABLE_COLUMNS``).
"""
