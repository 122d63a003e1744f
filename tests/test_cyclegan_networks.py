"""CycleGAN networks against the reference layout, and `cycleaug generate` with reference checkpoints.

The reference architecture (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py, norm
"instance", no dropout) is re-stated here independently of cycleaug.cyclegan.networks, so that key
names, shapes and outputs are checked against a second reading of the published architecture.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cycleaug.cli import main as cli
from cycleaug.cyclegan.networks import NLayerDiscriminator, ResnetGenerator, count_parameters, generator_shape
from cycleaug.cyclegan.translate import load_generator, translate
from PIL import Image
from torch import nn

torch.set_num_threads(1)


# ---- the published architecture, written out once more ---------------------------------------------


def _in(c: int, old: bool) -> nn.Module:
    # PyTorch < 0.4 InstanceNorm tracked running statistics; such checkpoints carry them.
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=old)


class _RefBlock(nn.Module):
    def __init__(self, d: int, old: bool):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(d, d, 3),
            _in(d, old),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(d, d, 3),
            _in(d, old),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class _RefGenerator(nn.Module):
    def __init__(self, ngf: int, n_blocks: int, old: bool = False):
        super().__init__()
        g = ngf
        seq = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, g, 7),
            _in(g, old),
            nn.ReLU(True),
            nn.Conv2d(g, 2 * g, 3, 2, 1),
            _in(2 * g, old),
            nn.ReLU(True),
            nn.Conv2d(2 * g, 4 * g, 3, 2, 1),
            _in(4 * g, old),
            nn.ReLU(True),
        ]
        seq += [_RefBlock(4 * g, old) for _ in range(n_blocks)]
        seq += [
            nn.ConvTranspose2d(4 * g, 2 * g, 3, 2, 1, output_padding=1),
            _in(2 * g, old),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * g, g, 3, 2, 1, output_padding=1),
            _in(g, old),
            nn.ReLU(True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(g, 3, 7),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def _ref_discriminator(ndf: int) -> nn.Module:
    d = ndf
    m = nn.Module()
    m.model = nn.Sequential(
        nn.Conv2d(3, d, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(d, 2 * d, 4, 2, 1),
        _in(2 * d, False),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(2 * d, 4 * d, 4, 2, 1),
        _in(4 * d, False),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(4 * d, 8 * d, 4, 1, 1),
        _in(8 * d, False),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(8 * d, 1, 4, 1, 1),
    )
    return m


def _randomise(net: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return net


# ---- tests -----------------------------------------------------------------------------------------


def test_full_size_parameter_counts():
    # Zhu's ResNet-9 generator and 70x70 PatchGAN at ngf = ndf = 64 (issue; reference print_networks).
    assert count_parameters(ResnetGenerator(3, 3, 64, 9)) == 11_378_179
    assert count_parameters(NLayerDiscriminator(3, 64)) == 2_764_737
    assert count_parameters(_RefGenerator(64, 9)) == 11_378_179  # the re-statement agrees


@pytest.mark.parametrize("ngf,n_blocks", [(4, 1), (8, 3), (64, 9)])
def test_state_dict_keys_and_shapes_match_reference(ngf, n_blocks):
    ours = ResnetGenerator(3, 3, ngf, n_blocks).state_dict()
    ref = _RefGenerator(ngf, n_blocks).state_dict()
    assert list(ours) == list(ref)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items()}
    assert "model.1.weight" in ours and "model.10.conv_block.1.weight" in ours
    last = 10 + n_blocks + 7  # up-sampling (6 modules), pad, then the output conv
    assert ours[f"model.{last}.weight"].shape == (3, ngf, 7, 7)
    d_ours, d_ref = NLayerDiscriminator(3, ngf).state_dict(), _ref_discriminator(ngf).state_dict()
    assert {k: v.shape for k, v in d_ours.items()} == {k: v.shape for k, v in d_ref.items()}
    assert d_ours["model.11.weight"].shape == (1, 8 * ngf, 4, 4)


@pytest.mark.parametrize("old", [False, True], ids=["current", "old-instancenorm-stats"])
def test_reference_checkpoint_loads_and_translates(tmp_path, old):
    ref = _randomise(_RefGenerator(4, 2, old=old), seed=1).eval()
    path = tmp_path / "latest_net_G_A.pth"
    state = ref.state_dict()
    if old:
        assert any(k.endswith("running_mean") for k in state)
        # and in the legacy (pre-1.6, non-zip) serialisation such old files use
        torch.save(state, path, _use_new_zipfile_serialization=False)
    else:
        torch.save(state, path)
    g = load_generator(path)
    assert generator_shape(g.state_dict()) == {"input_nc": 3, "output_nc": 3, "ngf": 4, "n_blocks": 2}
    if old:  # the reference evaluates old checkpoints without their stale statistics
        ref = _randomise(_RefGenerator(4, 2, old=False), seed=1).eval()

    # An image whose sides are multiples of 4 is translated without padding: compare pixel values
    # with the re-stated reference net and the scaling of the issue.
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    out = translate(g, [tmp_path / "x.png"], tmp_path / "out", progress=False)
    got = np.asarray(Image.open(out[0]))
    x = (torch.from_numpy(img).permute(2, 0, 1).float()[None] / 255 - 0.5) / 0.5
    with torch.no_grad():
        y = ref(x)[0]
    expected = ((y + 1) / 2 * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert got.shape == img.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_generate_cli_keeps_size_of_non_multiple_of_4_images(tmp_path):
    torch.save(_randomise(_RefGenerator(4, 1), seed=2).state_dict(), tmp_path / "5_net_G_A.pth")
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    sizes = {"a": (37, 51), "b": (38, 50), "c": (37, 51)}  # (height, width); a and c share a batch
    for name, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / f"{name}.png")
    rc = cli(
        [
            "generate",
            "--checkpoint",
            str(tmp_path / "5_net_G_A.pth"),
            "--input",
            str(src),
            "--output",
            str(tmp_path / "out"),
            "--batch-size",
            "2",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    for name, (h, w) in sizes.items():
        with Image.open(tmp_path / "out" / f"{name}.png") as im:
            assert (im.size, im.mode) == ((w, h), "RGB")
    # A single file works too, and gives the same pixels as in the batch, up to one 8-bit level: oneDNN
    # picks its convolution kernels by batch size, so a pixel's float value may differ in the last bits
    # and round to the neighbouring level.
    assert (
        cli(
            [
                "generate",
                "--checkpoint",
                str(tmp_path / "5_net_G_A.pth"),
                "--input",
                str(src / "a.png"),
                "--output",
                str(tmp_path / "one"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    one = np.asarray(Image.open(tmp_path / "one" / "a.png")).astype(int)
    batch = np.asarray(Image.open(tmp_path / "out" / "a.png")).astype(int)
    assert np.abs(one - batch).max() <= 1 and (one == batch).mean() > 0.99


def test_generate_rejects_a_foreign_checkpoint(tmp_path, capsys):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    rc = cli(
        [
            "generate",
            "--checkpoint",
            str(tmp_path / "bad.pth"),
            "--input",
            str(tmp_path / "x.png"),
            "--output",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ]
    )
    assert rc == 2
    assert "model.1.weight" in capsys.readouterr().err


# ------------------------------------------------------------------ precision choice on GPUs


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA device of the given compute capability as torch's own bf16 query sees it: available,
    and able to create bf16 tensors (emulated on pre-Ampere GPUs)."""
    from types import SimpleNamespace

    def install(major: int, minor: int, name: str):
        monkeypatch.setattr(torch.version, "hip", None)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        monkeypatch.setattr(
            torch.cuda,
            "get_device_properties",
            lambda device=None: SimpleNamespace(major=major, minor=minor, name=name),
        )
        monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)

    return install


def test_amp_auto_is_float32_on_a_v100(fake_gpu):
    from cycleaug.cyclegan.model import resolve_amp

    fake_gpu(7, 0, "Tesla V100-SXM2-16GB")
    assert torch.cuda.is_bf16_supported()  # torch's default counts emulation: the trap
    assert resolve_amp("auto", torch.device("cuda", 0)) is None
    assert resolve_amp("bf16", torch.device("cuda", 0)) == torch.bfloat16  # asked for explicitly


@pytest.mark.parametrize("major, name", [(8, "NVIDIA A100-SXM4-40GB"), (9, "NVIDIA H200")])
def test_amp_auto_is_bf16_on_ampere_and_hopper(fake_gpu, major, name):
    from cycleaug.cyclegan.model import resolve_amp

    fake_gpu(major, 0, name)
    assert resolve_amp("auto", torch.device("cuda", 0)) == torch.bfloat16


def test_tf32_switch_sets_and_labels_the_cuda_precision():
    from cycleaug.cyclegan.model import precision_label, set_fp32_precision

    before = (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision)
    try:
        set_fp32_precision(False)
        assert (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == ("ieee", "ieee")
        set_fp32_precision(True)
        assert (torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == ("tf32", "tf32")
    finally:
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = before
    cuda = torch.device("cuda", 0)
    assert precision_label(cuda, None, False) == "float32, float32 convolutions/matmuls in IEEE float32"
    assert precision_label(cuda, torch.bfloat16, True) == "bf16 autocast, float32 convolutions/matmuls in TF32"
    assert precision_label(torch.device("cpu"), None, True) == "float32"
