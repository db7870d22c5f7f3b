// State the kit's components share: the page's language (the viewer's #lang button sets it).
import { ref } from 'vue';

export const lang = ref('zh');
