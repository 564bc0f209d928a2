"""Delivery backends: the outbox (files) and SMTP. Each takes finished message bytes."""
