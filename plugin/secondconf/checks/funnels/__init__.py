"""The B2C funnel in a real browser (contract §10, §11): journeys, tiles, money, diagnosis."""
