"""Self-critical sequence training (SCST, issue #18): rewards and the policy-gradient loss."""
