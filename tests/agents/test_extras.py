"""The `extra` extra makes SB3's conventions work (TensorBoard logging, the progress bar), and the documented
CleanRL-style loop runs as written."""
import re
from pathlib import Path

import gymnasium as gym
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import spark_env  # noqa: F401
from agents import make_agent

LOOP_DOC = Path(__file__).resolve().parents[2] / "docs" / "own_loop.md"


def test_sb3_logs_to_tensorboard_and_shows_a_progress_bar_on_the_tiny_preset(tmp_path, capsys):
    env = gym.make_vec("SparkKD-v2", num_envs=2, vectorization_mode="vector_entry_point", preset="tiny")
    agent = make_agent("ppo", env, seed=0, tensorboard_log=str(tmp_path), progress_bar=True, n_steps=8,
                       batch_size=16)
    agent.learn(32)
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 1
    events = EventAccumulator(str(runs[0]))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"spark/probe_psnr", "spark/kd_loss", "spark/map_entropy"} <= set(tags), tags
    assert len(events.Scalars("spark/probe_psnr")) >= 1
    assert "32/32" in capsys.readouterr().out  # rich's progress bar reached the budget


def test_the_documented_cleanrl_style_loop_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", LOOP_DOC.read_text(), flags=re.S)
    loop = [b for b in blocks if "RecordEpisodeStatistics" in b]
    assert len(loop) == 1
    exec(compile(loop[0], "docs/own_loop.md", "exec"), {"__name__": "readme_loop"})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("update ")]
    assert [line.split(":")[0] for line in lines] == ["update 0", "update 1", "update 2"]
    assert all("returns [" in line and "final probe PSNR [" in line for line in lines)
