"""Tests of the policy server (daf_core.server) and the `daf` command."""
