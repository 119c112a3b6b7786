/**
 * Turns a title into a URL slug: lower case, ASCII letters and digits, words joined by single dashes.
 * slugify('Crème brûlée: 2 ways!') === 'creme-brulee-2-ways'
 */
export function slugify(text) {
  throw new Error('not implemented');
}
