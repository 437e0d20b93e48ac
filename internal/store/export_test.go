package store

// MigrateTo lets the tests bring a database to an earlier version, to
// check what a later migration does to the rows it finds.
var MigrateTo = migrateTo
