"""The simulator's HTTP API: the providers' merchant APIs and the test control plane."""
