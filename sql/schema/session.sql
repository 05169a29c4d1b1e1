-- Session settings of every pooled connection, run once when it opens (store/mod.rs says why).
set jit = off
