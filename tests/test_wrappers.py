"""QATRunRecorder keeps the first QAT run's outcome whatever the agent does afterwards."""
import gymnasium as gym
import numpy as np
import torch

import spark_env  # noqa: F401
from spark_env.wrappers import QATRunRecorder


def test_recorder_keeps_the_first_run_through_a_reset():
    env = QATRunRecorder(gym.make("SparkKD-v0", preset="tiny"), example_steps=(1, 8))
    env.reset(seed=0)
    for _ in range(8):
        _, _, terminated, _, _ = env.step(np.zeros((8, 8), np.float32))
    assert terminated and env.finished
    final = [p.clone() for p in env.run.final_student.parameters()]
    env.reset(seed=1)  # an SB3 VecEnv resets right away
    for _ in range(3):
        env.step(np.ones((8, 8), np.float32))
    run = env.run
    assert [point["env_step"] for point in run.curve] == list(range(1, 9))
    assert all(torch.equal(a, b) for a, b in zip(final, run.final_student.parameters()))
    assert [ex.qat_step for ex in run.examples] == [1, 8]
    example = run.examples[0]
    assert example.weights.shape == (8, 8) and example.observation.shape == (4, 8, 8)
    assert example.target.shape == (32, 32, 3) and 0 <= example.target.min() <= example.target.max() <= 1
    assert not run.final_student.training
