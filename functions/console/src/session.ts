/**
 * Local development sign-in: the dev token `dev:<tenant>:<role>:<subject>` is kept in session storage, so it
 * lasts as long as the tab and is never sent anywhere but this origin's API. In production the console sits
 * behind Identity-Aware Proxy and keeps no token at all.
 */

const KEY = 'reviewer-console.devToken';
const PART = /^[A-Za-z0-9._@-]{1,128}$/;

export const signInRoles = ['reviewer', 'admin'] as const;
export type SignInRole = (typeof signInRoles)[number];

export function devToken(tenant: string, subject: string, role: SignInRole): string {
  if (!PART.test(tenant)) throw new Error('The tenant is letters, digits, ".", "_", "@" or "-".');
  if (!PART.test(subject)) throw new Error('Your name is letters, digits, ".", "_", "@" or "-".');
  return `dev:${tenant}:${role}:${subject}`;
}

export const storedToken = (): string | null => sessionStorage.getItem(KEY);
export const storeToken = (token: string): void => sessionStorage.setItem(KEY, token);
export const clearToken = (): void => sessionStorage.removeItem(KEY);
