//! The one kind of foreign key the schema uses: a row belongs to its owner and goes with it.

use sea_orm_migration::prelude::*;

/// `from_table.from_col` references `to_table.to_col`, deleted with it.
pub fn owned_by(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
