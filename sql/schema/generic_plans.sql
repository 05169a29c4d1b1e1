-- Session setting of the generic-plan pool only (store/mod.rs, Store::generic_pool, says which
-- statements run there and why each is safe with a generic plan).
set plan_cache_mode = force_generic_plan
