"""The payment service: payment intents with the providers, refunds, disputes and daily
settlement reports. Each payment is an event-sourced aggregate, ``es.payment.<fr>.<intent>``.
"""
