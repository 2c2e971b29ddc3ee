import pytest

from spark_env import PRESETS, SparkConfig, load_config, make_config
from spark_env.errors import ConfigError


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_build_and_round_trip_through_yaml(preset, tmp_path):
    config = make_config(preset, w_bits=3, lambda_kd=0.5)
    path = tmp_path / "c.yaml"
    config.to_yaml(path)
    assert load_config(path) == config


def test_yaml_uses_the_safe_loader(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("task: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        load_config(path)


def test_yaml_with_preset_key_and_bad_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\nw_bits: 2\n")
    config = load_config(path)
    assert config.arch == "fsrcnn" and config.w_bits == 2
    path.write_text("preset: tiny\nbitz: 2\n")
    with pytest.raises(ConfigError, match="unknown config key\\(s\\) 'bitz'; allowed: task, arch"):
        load_config(path)


@pytest.mark.parametrize("overrides,match", [
    ({"crop_size": 30}, "crop_size=30 is invalid; allowed: a positive multiple of 8"),
    ({"w_bits": 9}, "w_bits=9 is invalid; allowed: integers 2..8"),
    ({"a_bits": 3.0}, "a_bits=3.0 has the wrong type"),
    ({"lr": -1.0}, "lr=-1.0 is invalid"),
    ({"kd_loss": "kl"}, "kd_loss='kl' is invalid; allowed: l1, l2, charbonnier"),
    ({"action_mapping": "sigmoid"}, "action_mapping='sigmoid' is invalid; allowed: softmax, linear, raw"),
    ({"task": "sr_x8"}, "unknown task 'sr_x8'"),
    ({"arch": "swinir"}, "arch='swinir' is invalid; allowed: edsr, edsr_official, srresnet, fsrcnn, imdn"),
    ({"quantizer": "dorefa"}, "quantizer='dorefa' is invalid; allowed: lsq, pams"),
    ({"calibration": "kl"}, "calibration='kl' is invalid; allowed: minmax, percentile, mse"),
    ({"teacher_cache": "bfloat16"}, "teacher_cache='bfloat16' is invalid; allowed: float32, float16"),
])
def test_bad_values_are_named(overrides, match):
    with pytest.raises(ConfigError, match=match):
        make_config("quick", **overrides)


def test_unknown_preset_and_callable_reward_yaml():
    with pytest.raises(ConfigError, match="unknown preset 'fast'; available: tiny, quick, paper"):
        make_config("fast")
    config = make_config("tiny", reward=lambda ctx: 0.0)
    with pytest.raises(ConfigError, match="callable reward cannot be written"):
        config.to_yaml()
    assert isinstance(config, SparkConfig) and config.lr == 1e-4
