"""The runtime: compiled plans and the Session that runs them on a backend."""
