/** Typed search attributes of a task; registered on the dev server at start, upserted on every transition. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BatonStage = defineSearchAttributeKey('BatonStage', SearchAttributeType.KEYWORD);
export const BatonStatus = defineSearchAttributeKey('BatonStatus', SearchAttributeType.KEYWORD);
export const BatonPriority = defineSearchAttributeKey('BatonPriority', SearchAttributeType.KEYWORD);
export const BatonAgent = defineSearchAttributeKey('BatonAgent', SearchAttributeType.KEYWORD);

