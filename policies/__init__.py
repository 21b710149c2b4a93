"""Policy checks over rendered Kubernetes objects, as pure functions the tests and tools can call."""
