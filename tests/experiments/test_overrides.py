"""The shared KEY=VALUE parser of the command lines (--set, --override, train_teacher's --option)."""
import pytest

from experiments import train_teacher
from experiments.common import parse_overrides
from spark_env.errors import ConfigError


def test_values_are_read_as_yaml_with_scientific_numbers():
    parsed = parse_overrides(["lr=1e-3", "n=4", "x=2.5", "seeds=[0, 1]", "reward=probe_psnr_gain", "flag=true",
                              "big=1E3"])
    assert parsed == {"lr": 0.001, "n": 4, "x": 2.5, "seeds": [0, 1], "reward": "probe_psnr_gain", "flag": True,
                      "big": 1000.0}
    assert isinstance(parsed["n"], int)
    with pytest.raises(SystemExit, match="--option must look like KEY=VALUE, got 'n_feats'"):
        parse_overrides(["n_feats"], "--option")


def test_train_teacher_options_go_through_the_shared_parser(tmp_path):
    args = train_teacher.parse_args(["--arch", "fsrcnn", "--iters", "1", "--batch", "1", "--option", "lr=1e-3",
                                     "--run-dir", str(tmp_path)])
    with pytest.raises(ConfigError, match="'fsrcnn' has no option 'lr'"):  # a clear error, not int('1e-3')
        train_teacher.train(args)
