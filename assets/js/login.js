// Login page (product.md §4.4, api.md §2.3): inline errors by code, follow a validated `next`.

import { post, safeNextPath } from './api.js';

const form = document.getElementById('login-form');
const username = document.getElementById('username');
const password = document.getElementById('password');
const submit = document.getElementById('login-submit');
const errorBox = document.getElementById('login-error');
let countdown = null;

function showError(message, invalidFields = []) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  for (const input of [username, password]) {
    if (invalidFields.includes(input)) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function clearError() {
  errorBox.hidden = true;
  errorBox.textContent = '';
  username.removeAttribute('aria-invalid');
  password.removeAttribute('aria-invalid');
}

/** "Too many attempts … try again in 42 s", counting down; the button waits until it reaches 0. */
function rateLimited(seconds) {
  clearInterval(countdown);
  let left = Math.max(1, Math.ceil(seconds));
  const tick = () => {
    if (left <= 0) {
      clearInterval(countdown);
      clearError();
      submit.disabled = false;
      return;
    }
    showError(`Too many attempts from this address — try again in ${left} s`);
    submit.disabled = true;
    left -= 1;
  };
  tick();
  countdown = setInterval(tick, 1000);
}

function messageFor(err) {
  switch (err.code) {
    case 'invalid_credentials':
      return 'Invalid username or password';
    case 'account_locked':
      return 'This account is locked for 15 minutes after repeated failures';
    case 'account_disabled':
      return 'This account is disabled';
    case 'account_expired':
      return 'This account has expired';
    case 'validation_failed':
    case 'unknown_field':
      return 'Enter your username and password';
    default:
      return err.error || 'Sign-in failed — try again';
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (submit.disabled) return;
  clearError();
  if (!username.value.trim() || !password.value) {
    showError('Enter your username and password', [!username.value.trim() ? username : null, !password.value ? password : null]);
    (username.value.trim() ? password : username).focus();
    return;
  }

  submit.disabled = true;
  submit.textContent = 'Signing in…';
  try {
    await post('/api/v1/auth/login', { username: username.value.trim(), password: password.value });
    const next = safeNextPath(new URLSearchParams(location.search).get('next'));
    location.replace(next && !next.startsWith('/login') ? next : '/dashboard');
    return;
  } catch (err) {
    submit.textContent = 'Sign in';
    submit.disabled = false;
    if (err.code === 'rate_limited') {
      rateLimited(err.retry_after_secs ?? 60);
      return;
    }
    const credentialsWrong = err.code === 'invalid_credentials';
    showError(messageFor(err), credentialsWrong ? [username, password] : []);
    if (credentialsWrong) {
      password.value = '';
      password.focus();
    }
  }
});
