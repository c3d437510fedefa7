/** Where new Snowflake ids come from (decimal strings, as they travel). */
export interface IdSource {
  nextString(): string;
}
