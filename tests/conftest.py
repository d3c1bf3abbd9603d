import os

from hypothesis import HealthCheck, settings

# quick: the default, keeps the whole suite under a few minutes on 2 cores.
# thorough: `pytest --hypothesis-profile=thorough` for a deeper search.
settings.register_profile("quick", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
