/** Registers Baton's search attributes on a namespace (the dev server gets them at start; other servers need this). */
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import type { Connection } from '@temporalio/client';
import { BATON_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** Adds every Baton search attribute to `namespace`; the server treats already registered ones as a no-op. */
export async function registerSearchAttributes(connection: Pick<Connection, 'operatorService'>, namespace: string): Promise<void> {
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      BATON_SEARCH_ATTRIBUTES.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!]),
    ),
  });
}
