"""A3's autonomy (contract §12): a run of more than 200 minutes of A3's clock without a
manual intervention, its cycles in A8 within 60 s, stall detection, and the reset of the
autonomous count by an intervention; under clock control, or in real time (a soak)."""
