"""Reinforcement learning of the speech LLM: seed 001's rewards and GRPO through trl."""

from workbench.rl.rewards import REWARDS, match_reward, wer_reward

__all__ = ["REWARDS", "match_reward", "wer_reward"]
