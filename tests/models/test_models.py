import pytest
import torch

from spark_env.models import ARCHITECTURES, SCALES, architecture_options, build_model
from spark_env.errors import ConfigError


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("scale", SCALES)
def test_output_shape_and_features_at_every_scale(name, scale):
    model = build_model(name, scale)
    x = torch.rand(2, 3, 12, 10)
    out, features = model(x, return_features=True)
    assert out.shape == (2, 3, 12 * scale, 10 * scale)
    assert len(features) >= 2 and all(f.shape[0] == 2 and f.shape[-2:] == (12, 10) for f in features)
    assert torch.equal(model(x), out)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_layout_has_head_body_tail(name):
    model = build_model(name, 2)
    assert {"head", "body", "tail"} <= {child for child, _ in model.named_children()}


def test_options_change_size():
    small, big = build_model("edsr", 2, n_blocks=2), build_model("edsr", 2, n_blocks=6)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in big.parameters())
    assert big.config["n_blocks"] == 6


def test_unknown_architecture_lists_available():
    with pytest.raises(ConfigError, match="unknown architecture 'rcan'; available: edsr, edsr_official, srresnet, fsrcnn, imdn"):
        build_model("rcan", 2)


def test_bad_scale_lists_allowed():
    with pytest.raises(ConfigError, match="scale 8 is not supported.*1, 2, 3, 4"):
        build_model("edsr", 8)


def test_bad_options_are_named():
    with pytest.raises(ConfigError, match="no option 'width'.*n_feats"):
        build_model("edsr", 2, width=3)
    with pytest.raises(ConfigError, match="n_blocks=0 is invalid.*positive integer"):
        build_model("edsr", 2, n_blocks=0)
    with pytest.raises(ConfigError, match="n_feats=2.5 is invalid"):
        build_model("srresnet", 2, n_feats=2.5)


def test_architecture_options_report_defaults():
    assert architecture_options("fsrcnn") == {"d": 56, "s": 12, "m": 4}
