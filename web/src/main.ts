import { render } from 'preact';
import { html } from 'htm/preact';
import { Store } from './app-state';
import { ChatController } from './chat-controller';
import { App } from './ui/app';
import { loadWsEndpoints } from './ws-endpoints';

void loadWsEndpoints().then(() => {
  const chat = new ChatController(new Store());
  chat.resume();
  render(html`<${App} chat=${chat} />`, document.getElementById('app')!);
});
