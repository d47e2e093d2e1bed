"""DAF's shared machinery, private to ``daf_core``: atomic file writes, guards for third-party imports that
change the process, seeding, thread limits, fingerprints and worker-process supervision.

Each concern lives in exactly one function here, so that training, evaluation and sweeps cannot drift
apart in how they seed, limit threads or watch their worker processes.
"""
