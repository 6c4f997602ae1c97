-- Removes the toolkit. Enabled tables must be disabled first (the domain migrations' down.sql
-- do that); CASCADE also removes the triggers of any view still using the toolkit's functions.
DROP SCHEMA softview CASCADE;
