package sqlite

// Migrations are the schema's migrations, for tests that build a file of
// an older version.
var Migrations = migrations
