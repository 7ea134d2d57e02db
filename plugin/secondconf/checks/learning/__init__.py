"""Phase 6, the learning loop: reward, signal path, and whether the bandit learns."""
