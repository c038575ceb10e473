"""The supply service: ingredients, recipes, outlet stock, purchase orders and transfers."""
