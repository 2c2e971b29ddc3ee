"""The official EDSR variant and the importer of EDSR-PyTorch checkpoints, tested on a checkpoint built here with
the official key layout by an independent replica of the official module structure."""
import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import spark_env  # noqa: F401
from experiments import import_edsr
from spark_env.errors import ConfigError
from spark_env.models import build_model
from spark_env.models.edsr_import import import_official_edsr
from spark_env.models.teachers import load_teacher

MEAN = torch.tensor([0.4488, 0.4371, 0.4040])


class MeanShift(nn.Conv2d):
    def __init__(self, sign: float) -> None:
        super().__init__(3, 3, 1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * 255.0 * MEAN


class OfficialResBlock(nn.Module):
    def __init__(self, n_feats: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feats, n_feats, 3, padding=1), nn.ReLU(True),
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))

    def forward(self, x):
        return self.body(x) + x


class OfficialEDSR(nn.Module):
    """EDSR-PyTorch's module structure (src/model/edsr.py, res_scale 1), input and output on [0, 255]."""

    def __init__(self, scale: int, n_feats: int = 8, n_blocks: int = 2) -> None:
        super().__init__()
        self.sub_mean, self.add_mean = MeanShift(-1.0), MeanShift(1.0)
        self.head = nn.Sequential(nn.Conv2d(3, n_feats, 3, padding=1))
        self.body = nn.Sequential(*[OfficialResBlock(n_feats) for _ in range(n_blocks)],
                                  nn.Conv2d(n_feats, n_feats, 3, padding=1))
        stages = [2, 2] if scale == 4 else [scale]
        upsampler = []
        for factor in stages:
            upsampler += [nn.Conv2d(n_feats, factor * factor * n_feats, 3, padding=1), nn.PixelShuffle(factor)]
        self.tail = nn.Sequential(nn.Sequential(*upsampler), nn.Conv2d(n_feats, 3, 3, padding=1))

    def forward(self, x):
        x = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(x) + x))


def _official_checkpoint(path, scale=2, seed=0):
    torch.manual_seed(seed)
    net = OfficialEDSR(scale)
    for part in (net.head, net.body, net.tail):  # small weights: outputs stay in range
        for parameter in part.parameters():
            parameter.data.mul_(0.5)
    torch.save(net.state_dict(), path)
    return net


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_imported_weights_reproduce_the_official_network(tmp_path, scale):
    official = _official_checkpoint(tmp_path / "edsr.pt", scale)
    sha = import_official_edsr(tmp_path / "edsr.pt", f"sr_x{scale}", tmp_path / "ours.pt")
    assert len(sha) == 64
    ours = load_teacher("edsr_official", f"sr_x{scale}", tmp_path / "ours.pt")
    assert ours.config == {"n_feats": 8, "n_blocks": 2, "res_scale": 1.0}
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(ours(x) * 255.0, official(x * 255.0), atol=1e-3)


def test_the_variant_has_the_official_layout_and_no_global_skip():
    model = build_model("edsr_official", 2, n_feats=8, n_blocks=2)
    assert not model.has_global_skip and build_model("edsr", 2).has_global_skip
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    x = torch.rand(1, 3, 8, 8)
    out = model(x)  # a zero network outputs the DIV2K mean: no bilinear skip, mean shift on [0, 255]
    assert torch.allclose(out, MEAN.view(1, 3, 1, 1).expand_as(out), atol=1e-6)


def test_import_errors_name_the_bad_key_or_file(tmp_path):
    _official_checkpoint(tmp_path / "x2.pt", 2)
    with pytest.raises(ConfigError, match="tail.0.0.weight"):
        import_official_edsr(tmp_path / "x2.pt", "sr_x3", tmp_path / "out.pt")  # wrong scale
    state = torch.load(tmp_path / "x2.pt", weights_only=True)
    state.pop("body.1.body.2.bias")
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="lacks key 'body.1.body.2.bias'"):
        import_official_edsr(tmp_path / "missing.pt", "sr_x2", tmp_path / "out.pt")
    state = torch.load(tmp_path / "x2.pt", weights_only=True)
    state["sub_mean.bias"] = torch.zeros(3)
    torch.save(state, tmp_path / "mean.pt")
    with pytest.raises(ConfigError, match="sub_mean.bias"):
        import_official_edsr(tmp_path / "mean.pt", "sr_x2", tmp_path / "out.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="corrupt.pt"):
        import_official_edsr(tmp_path / "corrupt.pt", "sr_x2", tmp_path / "out.pt")
    with pytest.raises(ConfigError, match="does not exist"):
        import_official_edsr(tmp_path / "nowhere.pt", "sr_x2", tmp_path / "out.pt")
    with pytest.raises(SystemExit, match="lacks key .tail.0.2.weight. .needed for x4"):
        import_edsr.main(["--checkpoint", str(tmp_path / "x2.pt"), "--task", "sr_x4", "--out",
                          str(tmp_path / "o.pt")])


def test_the_import_command_reports_test_figures(tmp_path, capsys):
    _official_checkpoint(tmp_path / "x2.pt", 2)
    report = import_edsr.main(["--checkpoint", str(tmp_path / "x2.pt"), "--task", "sr_x2", "--out",
                               str(tmp_path / "ours.pt")])
    assert report["arch"] == "edsr_official" and np.isfinite(report["test"]["psnr"])
    assert '"sha256"' in capsys.readouterr().out


def test_quantization_and_the_env_run_on_the_official_variant(tmp_path):
    _official_checkpoint(tmp_path / "x2.pt", 2)
    import_official_edsr(tmp_path / "x2.pt", "sr_x2", tmp_path / "ours.pt")
    env = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny",
                       arch="edsr_official", teacher_weights=str(tmp_path / "ours.pt"), episode_steps=3,
                       lookahead_info=True)
    obs, info = env.reset(seed=0)
    for _ in range(3):
        obs, reward, terminated, _, info = env.step(np.zeros((2, 8, 8), np.float32))
    assert terminated.all() and np.isfinite(reward).all()
    session = env.unwrapped.session
    quantized = [name for name, module in session.student.named_modules() if type(module).__name__ == "QuantConv2d"]
    assert quantized and all(name.startswith("body.") for name in quantized)
    assert torch.equal(session.student.rgb_mean, session.teacher.rgb_mean)
    for feature_kd in ("at", "fakd"):  # the feature-KD baselines match the variant's body features
        env = gym.make("SparkKD-v2", preset="tiny", arch="edsr_official", teacher_weights=str(tmp_path / "ours.pt"),
                       feature_kd=feature_kd, lambda_feat=1.0, episode_steps=1)
        env.reset(seed=0)
        _, reward, _, _, info = env.step(np.zeros((8, 8), np.float32))
        assert np.isfinite(reward) and info["feat_loss"] > 0
