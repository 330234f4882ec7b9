"""What a model's intervals are about (the estimand), and how many raters each model needs
before its intervals speak for raters in general. One vocabulary for the leaderboard
(strengths.py) and the factor effects (effects.py); ratings.reports.wording says it in words.

- POPULATION: about raters in general (the population of raters), on these prompts. The
  variance is clustered by rater, so a rater's own taste counts once, not once per vote.
- THESE_RATERS: about these raters' votes only, on these prompts. The variance is the model's
  own (every vote taken as independent): too few raters to say how others would judge.

The two minimums differ on purpose: each is where its own clustered variance starts to hold.
"""

from __future__ import annotations

POPULATION = "population"
THESE_RATERS = "these_raters"

#: The leaderboard's minimum. Its variance clustered by rater is the plain sandwich (CR1,
#: G/(G−1)), which has about G − 1 degrees of freedom and runs small with few raters: below ten
#: its own error is too large, and bench/validity.py measures 90–98 % coverage from ten up.
POPULATION_MIN_RATERS = 10

#: The factor effects' minimum. Their variance clustered by rater carries Bell and McCaffrey's
#: CR2 small-sample correction, which keeps it nearly unbiased with few raters (t on G − 1
#: degrees of freedom); a clustered variance needs at least two raters, and three leave it one
#: spare. bench/validity_raters.py measures 90–98 % coverage at five, ten and forty raters, and
#: checks the intervals about these raters' votes at one and two.
FACTOR_MIN_RATERS = 3
