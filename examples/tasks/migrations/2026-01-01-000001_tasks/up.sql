-- The application's own tables, in schema `app`: tasks with uuid keys, and notes on them in a
-- quoted mixed-case table with a column named like a Rust keyword.
CREATE SCHEMA app;

CREATE TABLE app.tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX tasks_title_live ON app.tasks (title) WHERE deleted_at IS NULL;

CREATE TABLE app."TaskNotes" (
    "noteId" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "taskId" uuid NOT NULL REFERENCES app.tasks ON DELETE CASCADE,
    body text NOT NULL,
    "type" text,
    deleted_at timestamptz
);
CREATE INDEX "TaskNotes_taskId_live" ON app."TaskNotes" ("taskId") WHERE deleted_at IS NULL;
-- Foreign-key checks and cascades look children up without the partial predicate.
CREATE INDEX "TaskNotes_taskId" ON app."TaskNotes" ("taskId");

SELECT softview.enable('app.tasks');
SELECT softview.enable('app."TaskNotes"');
