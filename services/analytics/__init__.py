"""The analytics service: sales, menu, kitchen and customer figures as projections of the
order and loyalty streams, for HQ, franchise owners and outlet managers."""
