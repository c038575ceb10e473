"""The payment provider simulator: GoPay, OVO, DANA, ShopeePay, a QRIS acquirer and a card
gateway as one fake external system.

It is the outside world for the payment service: it shares only the kernel with the platform
and talks to it over HTTP (charge and refund APIs in, signed callbacks out), keeping its
state in memory as a sandbox does.
"""
