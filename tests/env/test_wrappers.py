"""QATRunRecorder keeps the first QAT run's outcome of the batched env whatever the agent does afterwards."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import spark_env  # noqa: F401
from spark_env.wrappers import QATRunRecorder


def batched_env(num_envs: int = 2, **overrides):
    return gym.make_vec("SparkKD-v2", num_envs=num_envs, vectorization_mode="vector_entry_point", preset="tiny",
                        **overrides)


def test_recorder_keeps_the_first_run_through_the_autoreset():
    env = QATRunRecorder(batched_env(), example_steps=(1, 8))
    env.reset(seed=0)
    rewards = []
    for _ in range(8):
        _, reward, terminated, _, _ = env.step(np.zeros((2, 8, 8), np.float32))
        rewards.append(reward[0])
    assert terminated.all() and env.finished
    final = [p.clone() for p in env.run.final_student.parameters()]
    for _ in range(3):  # the vector env has already started the next run; it is not recorded
        env.step(np.ones((2, 8, 8), np.float32))
    run = env.run
    assert [point["env_step"] for point in run.curve] == list(range(1, 9))
    assert run.episode_return == pytest.approx(sum(rewards))
    assert all(torch.equal(a, b) for a, b in zip(final, run.final_student.parameters()))
    assert [ex.qat_step for ex in run.examples] == [1, 8]
    example = run.examples[0]
    assert example.weights.shape == (8, 8) and example.observation.shape == (4, 8, 8)
    assert example.target.shape == (32, 32, 3) and 0 <= example.target.min() <= example.target.max() <= 1
    assert not run.final_student.training


def test_recorder_copies_the_student_of_the_last_step_not_the_next_run():
    plain = gym.make("SparkKD-v2", preset="tiny")  # no autoreset: holds the final student after the last step
    plain.reset(seed=3)
    for _ in range(8):
        plain.step(np.zeros((8, 8), np.float32))
    recorder = QATRunRecorder(batched_env(num_envs=1))
    recorder.reset(seed=3)
    for _ in range(8):
        recorder.step(np.zeros((1, 8, 8), np.float32))
    expected = plain.unwrapped.session.student.state_dict()
    kept = recorder.run.final_student.state_dict()
    assert all(torch.equal(expected[k], kept[k]) for k in expected)
