import { render } from 'preact';
import { html } from 'htm/preact';
import { Store } from './app-state';
import { ChatController } from './chat-controller';
import { App } from './ui/app';

const chat = new ChatController(new Store());
chat.resume();
render(html`<${App} chat=${chat} />`, document.getElementById('app')!);
