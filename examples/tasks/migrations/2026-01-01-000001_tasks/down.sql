SELECT softview.disable('app."TaskNotes"');
SELECT softview.disable('app.tasks');
DROP SCHEMA app CASCADE;
