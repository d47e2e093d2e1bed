"""Names shared by the report, its results and its printing."""

AGGREGATE_MISSION = "all"
OVERALL_KEY = "overall"
REWARD_DEFINITION = "episode reward returned by the environment, summed over agents"
