-- Removes the softview toolkit. Disable the enabled tables first (their views and triggers use
-- the toolkit's functions; CASCADE would take those triggers with it).
DROP SCHEMA softview CASCADE;
DROP SCHEMA softview_internal CASCADE;
